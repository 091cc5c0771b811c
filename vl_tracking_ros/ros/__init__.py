"""vl_tracking_ros.ros"""
