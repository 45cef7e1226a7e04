# Quickstart: one server, one host, sign and encrypt. From the repository's
# root, with its own message box in .bizpipe/quickstart:
#
#   cp examples/quickstart/samples/*.xml examples/quickstart/in/
#   go run ./cmd/bizpipe run --once --data-dir .bizpipe/quickstart examples/quickstart
#
# The certificates under stores/ are a DEMO PKI, committed so the example runs
# out of the box. Never use them for real traffic: their private keys are public.

group "contoso" {
  # SHA-1 thumbprint of stores/svc_send/contoso-signing.p12 (bizpipe certs shows it).
  signing_certificate = "4E 07 7E B5 55 5B 50 DC BC BF 3D 72 61 28 19 54 D2 A1 99 9D"
}

variable "p12_password" {
  type        = string
  default     = "demo-only"
  description = "Password of the demo PKCS#12 files."
  sensitive   = true
}

certificate_store "svc_send_personal" {
  path     = "stores/svc_send"
  password = var.p12_password
}

certificate_store "srv1_other_people" {
  path = "stores/srv1_other_people"
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

pipeline "sign_encrypt" {
  encoder "smime" {
    signature            = "clear"
    digest               = "sha256"
    encrypt              = true
    encryption_algorithm = "aes256-cbc"
  }
}

receive_location "orders_in" {
  host         = host.send_host
  content_type = "application/xml"
  properties   = { partner = "fabrikam" }
  transport "file" {
    path    = "in"
    pattern = "*.xml"
  }
}

send_port "fabrikam" {
  host                   = host.send_host
  pipeline               = pipeline.sign_encrypt
  encryption_certificate = "CCFE302DA296CC18B316BA3063F069169382D9FC"
  filter                 = message.receive_location == "orders_in" && message.properties.partner == "fabrikam"
  transport "file" {
    path      = "out/fabrikam"
    file_name = "${message.id}.eml"
  }
}
