"""zerohero.hw"""
