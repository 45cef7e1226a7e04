# The rollover took effect in 2020: BP3007 is an error for srv2 and srv3,
# and BP3008 asks to finish it.
group "contoso" {
  signing_certificate = "4E077EB5555B50DCBCBF3D7261281954D2A1999D"
  signing_rollover {
    certificate = "CCFE302DA296CC18B316BA3063F069169382D9FC"
    at          = "2020-01-15T00:00:00Z"
  }
}
