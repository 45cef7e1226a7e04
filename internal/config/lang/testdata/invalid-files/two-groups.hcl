group "a" {}
group "b" {} # expect: BP1003
