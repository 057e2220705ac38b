"""zerohero.firmware"""
