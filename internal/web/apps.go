package web

// appRoutes registers the Developer Settings pages.
func (s *Server) appRoutes() {}
