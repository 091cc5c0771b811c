"""vl_tracking_ros.train"""
