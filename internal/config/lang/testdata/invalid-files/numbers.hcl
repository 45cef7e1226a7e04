# A number literal whose decimal form would have millions of digits is
# BP1004, and the rest of the file is still checked: printing it (here, in
# a property) would otherwise take minutes and gigabytes. So is a number
# computed that large (squarings in locals) or decoded (jsondecode), and an
# infinite one (a division by zero, pow and log), which is no value; so is
# one a function makes of a string argument (max, abs); and
# pow and log without a real result, on which go-cty would panic.
group "g" {}
locals {
  a = 1e4900
  b = local.a * local.a # expect: BP1004
  c = local.b * local.b
  d = 1e300 * 1e300
}
host "h" {}
receive_location "in" {
  host = host.h
  properties = {
    big   = "${1e300000000}" # expect: BP1004
    small = "${1e-300000000}" # expect: BP1004
    fine  = "${1e300}"
    sq    = "${local.c}"
    ok    = "${local.d}"
    json  = "${jsondecode("1e300000000")}" # expect: BP1004
    pow   = "${pow(10, 400)}" # expect: BP1004
    log   = "${log(0, 10)}" # expect: BP1004
    nan   = "${pow(-8, 0.5)}" # expect: BP1004
    nlog  = "${log(-1, 10)}" # expect: BP1004
    div   = "${1 / 0}" # expect: BP1004
    viamax = "${max("1e300000000")}" # expect: BP1004
    viaabs = "${abs("1e300000000")}" # expect: BP1004
    pfine = "${pow(2, 10)}"
  }
  transport "file" { path = "in" }
}
send_port "p" {
  host   = host.hh # expect: BP1001
  filter = true
  transport "file" { path = "out" }
}
