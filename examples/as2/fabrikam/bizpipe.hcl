# AS2, the receiving side: Fabrikam receives Contoso's orders by AS2,
# decrypts them with its host's decryption certificate, verifies Contoso's
# signature, stores them, and only then answers with an MDN signed with its
# group signing certificate. A sender that is not a declared party, or a
# message not addressed to FABRIKAM, is refused with 403 and not stored.
# See examples/as2/contoso for the commands that run both sides.
#
# It reuses the quickstart's DEMO PKI: never use it for real traffic.

group "fabrikam" {
  signing_certificate = "CCFE302DA296CC18B316BA3063F069169382D9FC"
  as2_id              = "FABRIKAM"
}

variable "fabrikam_port" {
  type        = number
  default     = 4080
  description = "The port of this AS2 endpoint."
}

variable "p12_password" {
  type        = string
  default     = "demo-only"
  description = "Password of the demo PKCS#12 file."
  sensitive   = true
}

# Fabrikam's certificate and key (the partner's of the quickstart).
certificate_store "svc_recv_personal" {
  path     = "stores/svc_recv"
  password = var.p12_password
}

# Contoso's certificate, to verify its signatures with.
certificate_store "srv1_other_people" {
  path = "stores/srv1_other_people"
}

service_account "svc_recv" {
  personal_store = certificate_store.svc_recv_personal
}

server "srv1" {
  other_people_store = certificate_store.srv1_other_people
}

host "receive_host" {
  decryption_certificate = "CCFE302DA296CC18B316BA3063F069169382D9FC"
  instance {
    server          = server.srv1
    service_account = service_account.svc_recv
  }
}

party "contoso" {
  as2_id = "CONTOSO"
  # SHA-1 thumbprint of stores/srv1_other_people/contoso.pem.
  signing_certificates = ["4E077EB5555B50DCBCBF3D7261281954D2A1999D"]
}

pipeline "decode" {
  decoder "smime" {
    decrypt = true
    verify  = true
  }
}

receive_location "as2_in" {
  host     = host.receive_host
  pipeline = pipeline.decode
  transport "as2" {
    listen   = "127.0.0.1:${var.fabrikam_port}"
    path     = "/as2"
    max_body = "64MiB"
  }
}

send_port "orders" {
  host   = host.receive_host
  filter = message.party == "contoso"
  transport "file" {
    path      = "out/orders"
    file_name = "${message.id}.xml"
  }
}
