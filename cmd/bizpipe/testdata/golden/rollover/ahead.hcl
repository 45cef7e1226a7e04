# The rollover is years ahead, beyond the warning window: BP3007 warns
# srv2 and srv3 to deploy the certificate in time.
group "contoso" {
  signing_certificate = "4E077EB5555B50DCBCBF3D7261281954D2A1999D"
  signing_rollover {
    certificate = "CCFE302DA296CC18B316BA3063F069169382D9FC"
    at          = "2070-01-15T00:00:00Z"
  }
}
