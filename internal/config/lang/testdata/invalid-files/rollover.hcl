# The group's signing_rollover block (language §12).
group "g" {
  signing_certificate = "4E077EB5555B50DCBCBF3D7261281954D2A1999D"
  signing_rollover {
    certificate = "CCFE302DA296CC18B316BA3063F069169382D9FC"
    at          = "2027-01-15 00:00" # expect: BP1004
  }
  signing_rollover { # expect: BP1004
    certificate = "CCFE302DA296CC18B316BA3063F069169382D9FC"
    at          = "2027-01-15T00:00:00Z"
  }
}
