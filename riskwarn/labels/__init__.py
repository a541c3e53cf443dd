"""Labels room: escalation events and the labels of the declarative ``[label]`` spec."""
