# A configured header no HTTP request can carry (a name that is not a
# token, a constant value with a control character, a Host that is not
# one) is BP1004 at validate,
# not a delivery retried until it is suspended. A value that reads the
# message is judged when it is evaluated.
group "g" {
  as2_id = "US"
}
host "h" {}
party "p" {
  as2_id               = "THEM"
  signing_certificates = ["0000000000000000000000000000000000000000"]
}
send_port "space_in_name" {
  host   = host.h
  filter = true
  transport "http" {
    url     = "https://partner.example/in"
    headers = { "X Order" = "1" } # expect: BP1004
  }
}
send_port "newline_in_value" {
  host   = host.h
  filter = true
  transport "http" {
    url     = "https://partner.example/in"
    headers = { "X-Order" = "1\nX-Injected: 2" } # expect: BP1004
  }
}
send_port "as2_newline_in_value" {
  host   = host.h
  filter = true
  transport "as2" {
    url     = "https://partner.example/as2"
    partner = party.p
    headers = { "X-Api-Key" = "k\r\n" } # expect: BP1004
  }
}
# Each is reported at its own entry, not at the whole map.
send_port "one_of_several" {
  host   = host.h
  filter = true
  transport "http" {
    url = "https://partner.example/in"
    headers = {
      "X-Partner" = "fabrikam"
      "X Order"   = "1" # expect: BP1004
      "X-Batch"   = "${message.file_name}"
    }
  }
}
# An AS2 header the as2 transport sets itself, at its entry too.
send_port "as2_reserved" {
  host   = host.h
  filter = true
  transport "as2" {
    url     = "https://partner.example/as2"
    partner = party.p
    headers = {
      "X-Api-Key" = "k"
      "as2-to"    = "THEM" # expect: BP1004
    }
  }
}
# A Host that is not a host name and port, which net/http would replace
# with an empty Host: the partner's default virtual host.
send_port "space_in_host" {
  host   = host.h
  filter = true
  transport "http" {
    url     = "https://partner.example/in"
    headers = { "Host" = "partner.example other" } # expect: BP1004
  }
}
# A sensitive value is judged too (the diagnostic never quotes it).
variable "tok" {
  type      = string
  sensitive = true
  default   = "x\r\nX-Evil: 1"
}
send_port "sensitive_value" {
  host   = host.h
  filter = true
  transport "http" {
    url     = "https://partner.example/in"
    headers = { "X-Sender" = var.tok } # expect: BP1004
  }
}
# Valid: a template over the message, and ordinary headers.
send_port "fine" {
  host   = host.h
  filter = true
  transport "http" {
    url     = "https://partner.example/in"
    headers = { "X-File" = "${message.file_name}", "X-Order" = "1\t2" }
  }
}
