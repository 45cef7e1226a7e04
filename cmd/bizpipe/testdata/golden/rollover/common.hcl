# A signing certificate rollover (language §12) on three servers: srv1's
# account holds the rollover certificate with its key, srv2's the
# certificate without its key, srv3's not at all. due.hcl and ahead.hcl
# each add the group, whose rollover is past or years ahead.

variable "p12_password" {
  default   = "demo-only"
  sensitive = true
}

certificate_store "svc1" {
  path     = "stores/svc1"
  password = var.p12_password
}
certificate_store "svc2" {
  path     = "stores/svc2"
  password = var.p12_password
}
certificate_store "svc3" {
  path     = "stores/svc3"
  password = var.p12_password
}

service_account "svc1" { personal_store = certificate_store.svc1 }
service_account "svc2" { personal_store = certificate_store.svc2 }
service_account "svc3" { personal_store = certificate_store.svc3 }

server "srv1" {}
server "srv2" {}
server "srv3" {}

host "send_host" {
  instance {
    server          = server.srv1
    service_account = service_account.svc1
  }
  instance {
    server          = server.srv2
    service_account = service_account.svc2
  }
  instance {
    server          = server.srv3
    service_account = service_account.svc3
  }
}

pipeline "sign" {
  encoder "smime" {
    signature = "clear"
  }
}

receive_location "orders_in" {
  host = host.send_host
  transport "file" { path = "in" }
}

send_port "fabrikam" {
  host     = host.send_host
  pipeline = pipeline.sign
  filter   = message.receive_location == "orders_in"
  transport "file" { path = "out" }
}
