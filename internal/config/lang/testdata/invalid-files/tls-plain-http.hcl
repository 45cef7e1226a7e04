# A tls block on a url that is certainly http:// (constant, or a literal
# scheme before what reads the message) is never used for the partner:
# requests go in clear. BP1010, a warning, at the tls block. A url whose
# scheme validate cannot know, or https://, is not reported.
group "g" {
  as2_id = "US"
}
host "h" {}
party "p" {
  as2_id               = "THEM"
  signing_certificates = ["0000000000000000000000000000000000000000"]
}
variable "unknown_url" {
  type = string
}
variable "secret_url" {
  type      = string
  sensitive = true
  default   = "http://partner.example/secret"
}
send_port "http_constant" {
  host   = host.h
  filter = true
  transport "http" {
    url = "http://partner.example/in"
    tls { # expect: BP1010
      ca_file = "ca.pem"
    }
  }
}
send_port "as2_upper_case" {
  host   = host.h
  filter = true
  transport "as2" {
    url     = "HTTP://partner.example/as2"
    partner = party.p
    tls { # expect: BP1010
      cert_file = "client.pem"
      key_file  = "client.key"
    }
  }
}
send_port "http_reads_message" {
  host   = host.h
  filter = true
  transport "http" {
    url = "http://partner.example/in/${urlencode(message.file_name)}"
    tls {} # expect: BP1010
  }
}
send_port "http_sensitive" {
  host   = host.h
  filter = true
  transport "http" {
    url = var.secret_url
    tls { # expect: BP1010
      ca_file = "ca.pem"
    }
  }
}
send_port "http_unknown" {
  host   = host.h
  filter = true
  transport "http" {
    url = var.unknown_url
    tls {
      ca_file = "ca.pem"
    }
  }
}
send_port "http_scheme_unknown" {
  host   = host.h
  filter = true
  transport "http" {
    url = "${var.unknown_url}://partner.example/in"
    tls {
      ca_file = "ca.pem"
    }
  }
}
send_port "https" {
  host   = host.h
  filter = true
  transport "as2" {
    url     = "https://partner.example/as2"
    partner = party.p
    tls {
      ca_file = "ca.pem"
    }
  }
}
