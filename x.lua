function f(r)
 return 1
end
