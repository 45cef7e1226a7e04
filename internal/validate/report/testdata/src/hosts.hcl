service_account "svc_send" {
  user           = "bts-send"
  personal_store = certificate_store.svc_send_personal
}

host "send_host" {
  instance {
    server          = server.srv1
    service_account = service_account.svc_send
  }
}
