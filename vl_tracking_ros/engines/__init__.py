"""vl_tracking_ros.engines"""
