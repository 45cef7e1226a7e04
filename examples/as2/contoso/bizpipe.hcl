# AS2, the sending side: Contoso sends each order put in in/ to its partner
# Fabrikam over AS2 (RFC 4130), signed with Contoso's certificate and
# encrypted for Fabrikam's, and delivers it only on Fabrikam's signed MDN
# whose Received-Content-MIC matches what was sent. examples/as2/fabrikam
# is the other side: two bizpipe processes talking on 127.0.0.1.
#
# Run Fabrikam, then send an order (from the repository's root):
#
#   go run ./cmd/bizpipe run --data-dir examples/as2/fabrikam/data examples/as2/fabrikam &
#   cp examples/quickstart/samples/order-1001.xml examples/as2/contoso/in/
#   go run ./cmd/bizpipe run --once --data-dir examples/as2/contoso/data examples/as2/contoso
#
# The order lands in examples/as2/fabrikam/out/orders/; `bizpipe messages mdn
# ID --data-dir examples/as2/contoso/data examples/as2/contoso` writes the
# MDN Fabrikam answered with. For an asynchronous MDN, add --var mdn=async:
# then run Contoso without --once, its as2 receive location taking the MDN
# (with --once the delivery stays awaiting_mdn).
#
# It reuses the quickstart's DEMO PKI: never use it for real traffic.

variable "fabrikam_url" {
  type        = string
  default     = "http://127.0.0.1:4081/as2"
  description = "Fabrikam's AS2 URL."
}

variable "listen" {
  type        = string
  default     = "127.0.0.1:4080"
  description = "Where Contoso takes asynchronous MDNs."
}

variable "mdn" {
  type        = string
  default     = "sync"
  description = "The MDN asked of Fabrikam: sync or async."
}

variable "p12_password" {
  type        = string
  default     = "demo-only"
  description = "Password of the demo PKCS#12 files."
  sensitive   = true
}

group "contoso" {
  signing_certificate = "4E077EB5555B50DCBCBF3D7261281954D2A1999D"
  as2_id              = "CONTOSO"
}

certificate_store "svc_personal" {
  path     = "../../quickstart/stores/svc_send"
  password = var.p12_password
}

certificate_store "srv1_other_people" {
  path = "../../quickstart/stores/srv1_other_people"
}

service_account "svc" {
  personal_store = certificate_store.svc_personal
}

server "srv1" {
  other_people_store = certificate_store.srv1_other_people
}

host "as2_host" {
  instance {
    server          = server.srv1
    service_account = service_account.svc
  }
}

party "fabrikam" {
  as2_id               = "FABRIKAM"
  signing_certificates = ["CCFE302DA296CC18B316BA3063F069169382D9FC"]
}

pipeline "sign_encrypt" {
  encoder "smime" {
    signature            = "clear"
    encrypt              = true
    encryption_algorithm = "aes256-cbc"
  }
}

receive_location "orders_in" {
  host         = host.as2_host
  content_type = "application/xml"
  transport "file" {
    path = "in"
  }
}

# Takes Fabrikam's asynchronous MDNs (mdn = "async" below).
receive_location "as2_in" {
  host = host.as2_host
  transport "as2" {
    listen = var.listen
    path   = "/as2"
  }
}

send_port "to_fabrikam" {
  host                   = host.as2_host
  pipeline               = pipeline.sign_encrypt
  encryption_certificate = "CCFE302DA296CC18B316BA3063F069169382D9FC"
  filter                 = message.receive_location == "orders_in"
  transport "as2" {
    url           = var.fabrikam_url
    partner       = party.fabrikam
    subject       = "Order ${message.file_name}"
    mdn           = var.mdn
    async_mdn_url = "http://${var.listen}/as2"
  }
}
