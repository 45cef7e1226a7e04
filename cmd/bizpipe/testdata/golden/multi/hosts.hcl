# Golden fixture: one configuration in two files, with errors and warnings in
# both. The certificates are copies of the demo PKI of examples/ (DEMO ONLY).

group "contoso" {
  signing_certificate = "4E077EB5555B50DCBCBF3D7261281954D2A1999D"
}

variable "p12_password" {
  type      = string
  sensitive = true
}

certificate_store "cert_only" {
  path = "stores/signing_cert_only"
}

certificate_store "partner_only" {
  path = "stores/partner_only"
}

certificate_store "p12" {
  path     = "stores/p12"
  password = var.p12_password
}

certificate_store "other_people" {
  path = "stores/other_people"
}

certificate_store "spare" {
  path = "stores/other_people"
}

service_account "svc_cert_only" {
  personal_store = certificate_store.cert_only
}

service_account "svc_partner_only" {
  personal_store = certificate_store.partner_only
}

service_account "svc_p12" {
  personal_store = certificate_store.p12
}

server "srv1" {
  other_people_store = certificate_store.other_people
}

server "srv2" {}

host "send_host" {
  instance {
    server          = server.srv1
    service_account = service_account.svc_cert_only
  }
  instance {
    server          = server.srv2
    service_account = service_account.svc_partner_only
  }
}

host "edge_host" {
  instance {
    server          = server.srv1
    service_account = service_account.svc_p12
  }
}
