package web

// hookRoutes registers the Service Hooks pages.
func (s *Server) hookRoutes() {}
