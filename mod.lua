function hello(r)
  return 'hi'
end
