"""The SymPy side: the graph of the network's top and loss, derivative rules, the chain rule, printers, reports."""
