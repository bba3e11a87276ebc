print("lguest-bench: not yet built")
