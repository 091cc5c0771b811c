"""vl_tracking_ros.eval"""
