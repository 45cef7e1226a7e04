group "g" {}
host "h" {}
send_port "a" {
  host   = host.h
  filter = message.partner == "x" # expect: BP1005
  transport "file" { path = "out" }
}
send_port "b" {
  host   = host.h
  filter = message.properties.partner # expect: BP1005
  transport "file" {
    path      = "out"
    file_name = "${message.name}.eml" # expect: BP1005
  }
}
send_port "c" {
  host   = host.h
  filter = message.size + 1 # expect: BP1005
  transport "http" {
    url     = "http://127.0.0.1/${message.sender}" # expect: BP1005
    headers = { "X-A" = message.properties } # expect: BP1005
  }
}
certificate_store "s" {
  path = "${message.id}" # expect: BP1001
}
