# AS2, the sending side: Contoso signs and encrypts each order and sends it
# by AS2 to its partner Fabrikam, which answers with a signed MDN. The
# delivery counts as delivered only when the MDN is positive, verifies with
# Fabrikam's certificate and carries the MIC of what was sent. Fabrikam is
# examples/as2/fabrikam, another bizpipe, on 127.0.0.1:4080 (variable
# fabrikam_port in both). From the repository's root, with the binary built
# once (a `go run ... &` job, when stopped, leaves its server running), each
# side with its own --data-dir:
#
#   go build -o bizpipe ./cmd/bizpipe
#   ./bizpipe run --data-dir .bizpipe/fabrikam examples/as2/fabrikam &
#   cp examples/quickstart/samples/order-1001.xml examples/as2/contoso/in/
#   ./bizpipe run --once --data-dir .bizpipe/contoso examples/as2/contoso
#   ./bizpipe messages list --data-dir .bizpipe/contoso examples/as2/contoso
#   ./bizpipe messages mdn --data-dir .bizpipe/contoso ID examples/as2/contoso |
#     openssl smime -verify -CAfile examples/quickstart/partner/ca.pem
#
# The order lands decoded in examples/as2/fabrikam/out/orders/. `messages
# mdn` writes the MDN as received (ID is the one `messages list` shows),
# and OpenSSL verifies Fabrikam's signature on it.
#
# Variable mdn is this side's (Fabrikam declares none: --var mdn=... there is
# BP1001). With --var mdn=async on Contoso's commands, Fabrikam answers at
# once and POSTs its MDN to Contoso's receive location "as2_in"
# (127.0.0.1:4081, variable contoso_port). A run --once sends and leaves the
# order awaiting_mdn (messages list --status awaiting_mdn); Fabrikam's POST
# then fails and is tried again every async_mdn_interval (default 1m, up to
# async_mdn_attempts, default 10, times). Run Contoso without --once to take
# it: the order is delivered at Fabrikam's next try.
#
# It reuses the quickstart's DEMO PKI: never use it for real traffic.

group "contoso" {
  signing_certificate = "4E077EB5555B50DCBCBF3D7261281954D2A1999D"
  as2_id              = "CONTOSO"
}

variable "p12_password" {
  type        = string
  default     = "demo-only"
  description = "Password of the demo PKCS#12 files."
  sensitive   = true
}

variable "mdn" {
  type        = string
  default     = "sync"
  description = "The MDN asked of Fabrikam: sync (in its answer) or async (POSTed to location as2_in)."
}

variable "contoso_port" {
  type        = number
  default     = 4081
  description = "The port of Contoso's AS2 endpoint, where Fabrikam POSTs asynchronous MDNs."
}

variable "fabrikam_port" {
  type        = number
  default     = 4080
  description = "The port of Fabrikam's AS2 endpoint (examples/as2/fabrikam)."
}

certificate_store "svc_send_personal" {
  path     = "../../quickstart/stores/svc_send"
  password = var.p12_password
}

certificate_store "srv1_other_people" {
  path = "../../quickstart/stores/srv1_other_people"
}

service_account "svc_send" {
  personal_store = certificate_store.svc_send_personal
}

server "srv1" {
  other_people_store = certificate_store.srv1_other_people
}

host "send_host" {
  instance {
    server          = server.srv1
    service_account = service_account.svc_send
  }
}

party "fabrikam" {
  as2_id = "FABRIKAM"
  # Verifies Fabrikam's MDNs: SHA-1 thumbprint of
  # ../../quickstart/stores/srv1_other_people/fabrikam.pem.
  signing_certificates = ["CCFE302DA296CC18B316BA3063F069169382D9FC"]
}

pipeline "sign_encrypt" {
  encoder "smime" {
    signature            = "clear"
    encrypt              = true
    encryption_algorithm = "aes256-cbc"
  }
}

receive_location "orders" {
  host         = host.send_host
  content_type = "application/xml"
  transport "file" {
    path    = "in"
    pattern = "*.xml"
  }
}

# Contoso's AS2 endpoint: it takes Fabrikam's asynchronous MDNs (--var
# mdn=async) for the port below and settles its deliveries (with bizpipe
# run, not --once), and whatever Fabrikam sends Contoso, kept in
# out/from_fabrikam/ as received.
receive_location "as2_in" {
  host = host.send_host
  transport "as2" {
    listen = "127.0.0.1:${var.contoso_port}"
    path   = "/as2"
  }
}

send_port "fabrikam_as2" {
  host                   = host.send_host
  pipeline               = pipeline.sign_encrypt
  encryption_certificate = "CCFE302DA296CC18B316BA3063F069169382D9FC"
  filter                 = message.receive_location == "orders"
  transport "as2" {
    url           = "http://127.0.0.1:${var.fabrikam_port}/as2"
    partner       = party.fabrikam
    subject       = "Order ${message.file_name}"
    timeout       = "30s"
    mdn           = var.mdn
    async_mdn_url = "http://127.0.0.1:${var.contoso_port}/as2"
  }
  retry {
    attempts = 3
    interval = "10s"
  }
}

send_port "from_fabrikam" {
  host   = host.send_host
  filter = message.receive_location == "as2_in"
  transport "file" {
    path      = "out/from_fabrikam"
    file_name = "${message.id}.p7m"
  }
}
