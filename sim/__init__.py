"""zerohero.sim"""
