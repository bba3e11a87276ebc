print("weave: not yet built")
