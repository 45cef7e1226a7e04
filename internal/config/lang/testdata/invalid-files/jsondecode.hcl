# jsondecode refuses text nested more than 256 levels deep before go-cty
# decodes it, which recursed once per "[": this text of four million "["
# overflowed the stack, a fatal error that killed the process.
group "x" {}
locals {
  s = replace(format("%4096s", ""), " ", "[")
  a = jsondecode(join("", [for i in range(1000) : local.s])) # expect: BP1004
  b = jsondecode("[[[[{\"a\": [\"[[[[\"]}]]]]")
}
