group "g" {}
certificate_store "s" { path = "x" }
service_account "a" {
  personal_store = certificate_store.nope # expect: BP1001
}
server "srv" {}
host "h" {
  instance {
    server          = server.nope # expect: BP1001
    service_account = server.srv  # expect: BP1001
  }
}
send_port "p" {
  host     = host.h
  pipeline = pipeline.nope # expect: BP1001
  filter   = var.missing   # expect: BP1001
  transport "file" { path = local.nope } # expect: BP1001
}
