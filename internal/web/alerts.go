package web

// alertRoutes registers the Alerts pages.
func (s *Server) alertRoutes() {}
