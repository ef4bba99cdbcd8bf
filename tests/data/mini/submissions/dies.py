import os
k = 661
os._exit(1)
flag = False
