"""hailo"""
