group "contoso" {
  signing_certificate = "4E077EB5555B50DCBCBF3D7261281954D2A1999D"
  certificate_expiry_warning = 
}

send_port "orphan" {
  host   = host.nowhere
  filter = true
  transport "file" {
    path = "out"
  }
}
