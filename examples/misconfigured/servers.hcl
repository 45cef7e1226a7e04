certificate_store "svc_send_personal" {
  path     = "stores/svc_send"
  password = var.p12_password
}

certificate_store "svc_send2_personal" {
  path = "stores/svc_send2"
}

certificate_store "srv1_other_people" {
  path = "stores/srv1_other_people"
}

certificate_store "srv2_other_people" {
  path = "stores/srv2_other_people"
}

service_account "svc_send" {
  personal_store = certificate_store.svc_send_personal
}

service_account "svc_send2" {
  personal_store = certificate_store.svc_send2_personal
}

server "srv1" {
  other_people_store = certificate_store.srv1_other_people
}

server "srv2" {
  other_people_store = certificate_store.srv2_other_people
}

host "send_host" {
  instance {
    server          = server.srv1
    service_account = service_account.svc_send
  }
  instance {
    server          = server.srv2
    service_account = service_account.svc_send2
  }
}
