"""The TAXII 2.1 server: one blueprint module per resource, registered by cyberlab.app."""
