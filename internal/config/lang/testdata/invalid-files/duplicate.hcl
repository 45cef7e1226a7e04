group "g" {}
server "a" {}
server "a" {} # expect: BP1002
host "h" {}
host "h" {} # expect: BP1002
locals { x = 1 }
locals {
  x = 2 # expect: BP1002
}
