# AS2, the receiving side: Fabrikam takes Contoso's AS2 messages
# (examples/as2/contoso sends them), decrypts them with its host's
# decryption certificate, verifies Contoso's signature, stores them and
# answers each with an MDN signed with Fabrikam's certificate - in the HTTP
# response, or POSTed to Contoso when it asks for an asynchronous one. The
# orders go to out/orders/. How to run both: see ../contoso/bizpipe.hcl.
#
# It reuses the quickstart's DEMO PKI (stores/svc holds the key of
# examples/quickstart/partner/fabrikam.pem): never use it for real traffic.

variable "listen" {
  type        = string
  default     = "127.0.0.1:4081"
  description = "Where Fabrikam takes AS2 messages."
}

group "fabrikam" {
  signing_certificate = "CCFE302DA296CC18B316BA3063F069169382D9FC"
  as2_id              = "FABRIKAM"
}

variable "p12_password" {
  type        = string
  default     = "demo-only"
  description = "Password of the demo PKCS#12 files."
  sensitive   = true
}

certificate_store "fabrikam_personal" {
  path     = "stores/svc"
  password = var.p12_password
}

certificate_store "srv1_other_people" {
  path = "stores/srv1_other_people"
}

service_account "svc" {
  personal_store = certificate_store.fabrikam_personal
}

server "srv1" {
  other_people_store = certificate_store.srv1_other_people
}

host "as2_host" {
  decryption_certificate = "CCFE302DA296CC18B316BA3063F069169382D9FC"
  instance {
    server          = server.srv1
    service_account = service_account.svc
  }
}

party "contoso" {
  as2_id               = "CONTOSO"
  signing_certificates = ["4E077EB5555B50DCBCBF3D7261281954D2A1999D"]
}

pipeline "decode" {
  decoder "smime" {
    decrypt = true
    verify  = true
  }
}

receive_location "as2_in" {
  host     = host.as2_host
  pipeline = pipeline.decode
  transport "as2" {
    listen = var.listen
    path   = "/as2"
  }
}

send_port "orders" {
  host   = host.as2_host
  filter = message.party == "contoso"
  transport "file" {
    path      = "out/orders"
    file_name = "${message.id}.xml"
  }
}
