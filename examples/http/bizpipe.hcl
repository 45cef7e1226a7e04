# HTTP: orders arrive by HTTP POST, are signed and encrypted, and are POSTed
# to the partner. The "partner" is simulated in the same process by a second
# HTTP receive location, whose messages land in out/partner_inbox/. From the
# repository's root, with the binary built once (a `go run ... &` job, when
# stopped, leaves the server it started running):
#
#   go build -o bizpipe ./cmd/bizpipe
#   ./bizpipe run --data-dir .bizpipe/http examples/http &
#   curl -sS --data-binary @examples/quickstart/samples/order-1001.xml \
#        -H 'Content-Type: application/xml' http://127.0.0.1:8080/orders
#
# Check what the partner received as it would (see the partner_inbox
# location below), then stop the server (it finishes what is in flight):
#
#   p=examples/quickstart/partner
#   f=$(ls examples/http/out/partner_inbox/*.p7m | head -1)
#   openssl base64 -d -in "$f" |
#     openssl cms -decrypt -inform DER -recip $p/fabrikam.pem -inkey $p/fabrikam.key |
#     openssl cms -verify -CAfile $p/ca.pem
#   kill %1
#
# It reuses the quickstart's DEMO PKI: never use it for real traffic.

group "contoso" {
  signing_certificate = "4E077EB5555B50DCBCBF3D7261281954D2A1999D"
}

variable "p12_password" {
  type        = string
  default     = "demo-only"
  description = "Password of the demo PKCS#12 files."
  sensitive   = true
}

variable "orders_port" {
  type        = number
  default     = 8080
  description = "The port of our orders endpoint."
}

variable "partner_port" {
  type        = number
  default     = 8081
  description = "The port of the simulated partner."
}

certificate_store "svc_send_personal" {
  path     = "../quickstart/stores/svc_send"
  password = var.p12_password
}

certificate_store "srv1_other_people" {
  path = "../quickstart/stores/srv1_other_people"
}

service_account "svc_send" {
  personal_store = certificate_store.svc_send_personal
}

server "srv1" {
  other_people_store = certificate_store.srv1_other_people
}

host "web_host" {
  instance {
    server          = server.srv1
    service_account = service_account.svc_send
  }
}

pipeline "sign_encrypt" {
  encoder "smime" {
    signature = "clear"
    encrypt   = true
  }
}

# Our own inbound endpoint: POST /orders answers 202 once the order is stored.
receive_location "orders_http" {
  host         = host.web_host
  content_type = "application/xml"
  properties   = { partner = "fabrikam" }
  transport "http" {
    listen   = "127.0.0.1:${var.orders_port}"
    path     = "/orders"
    max_body = "16MiB"
    # Orders are application/xml whatever Content-Type a client sends
    # ("use" would let the request's label the message).
    request_content_type = "ignore"
  }
}

send_port "fabrikam_http" {
  host                   = host.web_host
  pipeline               = pipeline.sign_encrypt
  encryption_certificate = "CCFE302DA296CC18B316BA3063F069169382D9FC"
  filter                 = message.receive_location == "orders_http"
  transport "http" {
    url     = "http://127.0.0.1:${var.partner_port}/inbox?order=${urlencode(message.id)}"
    headers = { "X-Sender" = "contoso" }
    timeout = "10s"
  }
  retry {
    attempts = 5
    interval = "10s"
  }
}

# The simulated partner: what fabrikam_http posts is stored as received and
# written to out/partner_inbox/. That is the body of the POST: the base64 of
# the enveloped data (DER), whose MIME header fields travelled as HTTP
# headers; `openssl base64 -d` gives the DER that `openssl cms -decrypt
# -inform DER` takes (the commands at the top of this file).
receive_location "partner_inbox" {
  host = host.web_host
  transport "http" {
    listen = "127.0.0.1:${var.partner_port}"
    path   = "/inbox"
  }
}

send_port "partner_files" {
  host   = host.web_host
  filter = message.receive_location == "partner_inbox"
  transport "file" {
    path      = "out/partner_inbox"
    file_name = "${message.id}.p7m"
  }
}
