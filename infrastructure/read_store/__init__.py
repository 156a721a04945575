"""read_store"""
