# A group with an invalid name is one error, not also "No group block".
group "1contoso" {} # expect: BP1004
