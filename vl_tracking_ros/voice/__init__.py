"""vl_tracking_ros.voice"""
