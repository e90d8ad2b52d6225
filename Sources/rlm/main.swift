print("rlm")
