"""Robot adapters: what turns a simulator's or a robot's interface into the planner's skills."""
