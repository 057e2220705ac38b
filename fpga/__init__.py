"""zerohero.fpga"""
