# expect: BP1003 @ 0
server "a" {}
