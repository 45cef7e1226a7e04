group "g" {
  certificate_expiry_warning = "30 days" # expect: BP1004
}
server "bad name!" {} # expect: BP1004
certificate_store "s" {} # expect: BP1004
pipeline "p" {
  encoder "smime" {
    signature            = "detached" # expect: BP1004
    digest               = "md5"      # expect: BP1004
    encrypt              = "maybe"    # expect: BP1004
    encryption_algorithm = "rc2"      # expect: BP1004
    colour               = "blue"     # expect: BP1004
  }
  encoder "gzip" {} # expect: BP1004
}
receive_location "r" { # expect: BP1004
  host = host.h
}
receive_location "r2" {
  host = host.h
  transport "http" {
    listen   = "127.0.0.1:1"
    max_body = "lots" # expect: BP1004
  }
}
send_port "sp" {
  host = host.h
  transport "ftp" {} # expect: BP1004
  retry {
    attempts = 1.5 # expect: BP1004
    interval = "-5m" # expect: BP1004
  }
}
send_port "sp2" {
  host = host.h
  transport "file" {
    path      = "out"
    copy_mode = "append" # expect: BP1004
  }
}
send_port "sp3" {
  host = host.h
  transport "http" {
    url = "https://127.0.0.1:1/"
    tls { # expect: BP1004
      cert_file = "c.pem"
    }
  }
}
host "h" {}
