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
# The time of receipt is never a number or a bool: < > + && on it fail for
# every message. Taken apart as numbers, or compared as a string, it is fine,
# and so is what fails for some times only (a regex that matches no time of
# 2026: the sample's year).
send_port "received_at" {
  host   = host.h
  filter = message.received_at > "2020" # expect: BP1005
  transport "file" {
    path      = "out"
    file_name = "${message.received_at + 1}.edi" # expect: BP1005
  }
}
send_port "received_at_fine" {
  host   = host.h
  filter = parseint(formatdate("YYYYMMDDhhmm", message.received_at), 10) >= 202601010000 && message.received_at != "" && length(regexall("^2027-", message.received_at)) == 0 && regex("^1999", message.received_at) != ""
  transport "file" {
    path      = "out"
    file_name = "${replace(message.received_at, ":", "")}-${message.size + 1}.edi"
  }
}
