# Misconfigured: two servers run the send host, and the service account of the
# instance on srv2 has the signing certificate but not its private key. BizTalk
# would find out in production, by suspending every message srv2 signs;
# `bizpipe validate` finds it now. DEMO PKI only: see ../gen-demo-pki.sh.

group "contoso" {
  signing_certificate = "4E077EB5555B50DCBCBF3D7261281954D2A1999D"
}

variable "p12_password" {
  type      = string
  default   = "demo-only"
  sensitive = true
}
