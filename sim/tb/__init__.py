"""zerohero.sim.tb"""
