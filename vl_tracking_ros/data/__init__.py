"""vl_tracking_ros.data"""
